#include "evidence/keys.h"

#include "base/durable.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

/* The secret key file (docs/KEYS.md): a header line naming the format and its version, then
 * the 64-byte libsodium Ed25519 secret key (seed followed by public key) in hex. */
#define KEY_FILE_HEADER "selgw-ed25519-secret-key 1\n"
#define KEY_FILE_HEADER_LEN (sizeof(KEY_FILE_HEADER) - 1)
#define SECRET_KEY_BYTES crypto_sign_SECRETKEYBYTES
#define SECRET_KEY_HEX_LEN (2 * SECRET_KEY_BYTES)
#define KEY_FILE_LEN (KEY_FILE_HEADER_LEN + SECRET_KEY_HEX_LEN + 1)
#define PUBLIC_KEY_PREFIX "ed25519:"
#define PUBLIC_KEY_PREFIX_LEN (sizeof(PUBLIC_KEY_PREFIX) - 1)

_Static_assert(SELGW_PUBLIC_KEY_BYTES == crypto_sign_PUBLICKEYBYTES, "Ed25519 public key size");
_Static_assert(SELGW_SIGNATURE_BYTES == crypto_sign_BYTES, "Ed25519 signature size");
_Static_assert(SELGW_HASH_BYTES >= crypto_generichash_BYTES_MIN &&
                   SELGW_HASH_BYTES <= crypto_generichash_BYTES_MAX,
               "BLAKE2b output size");
_Static_assert(SELGW_PUBLIC_KEY_TEXT_SIZE >= PUBLIC_KEY_PREFIX_LEN + 2 * SELGW_PUBLIC_KEY_BYTES + 1,
               "room for the public key text");
_Static_assert(SECRET_KEY_BYTES == 64, "libsodium Ed25519 secret key is seed + public key");

struct selgw_signer {
    unsigned char *secret;                      /* sodium_malloc'd, read-only after loading */
    uint8_t public_key[SELGW_PUBLIC_KEY_BYTES]; /* not secret */
};

/* sodium_init is idempotent and cheap once done; -1 means libsodium cannot work here. */
static bool sodium_ready(char *why, size_t why_cap)
{
    if (sodium_init() >= 0)
        return true;
    selgw_explain(why, why_cap, "libsodium could not be initialised");
    return false;
}

/* A new directory entry survives a power cut only once the directory is synced. */
static selgw_err fsync_dir(const char *path, char *why, size_t why_cap)
{
    selgw_err err = selgw_fsync_parent(path);
    if (err == SELGW_ERR_NOMEM)
        selgw_explain(why, why_cap, "out of memory");
    else if (err != SELGW_OK)
        err = selgw_explain_errno(why, why_cap, errno, "cannot sync the directory of %s", path);
    return err;
}

static bool write_all(int fd, const char *data, size_t len)
{
    while (len) {
        ssize_t n = write(fd, data, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        if (n == 0) {
            errno = EIO;
            return false;
        }
        data += n;
        len -= (size_t)n;
    }
    return true;
}

selgw_err selgw_keygen(const char *secret_path, char public_text[SELGW_PUBLIC_KEY_TEXT_SIZE],
                       char *why, size_t why_cap)
{
    if (!secret_path || !*secret_path || !public_text) {
        selgw_explain(why, why_cap, "no secret key file given");
        return SELGW_ERR_INVALID;
    }
    public_text[0] = 0;
    if (!sodium_ready(why, why_cap))
        return SELGW_ERR_IO;

    /* the key and its text live only in guarded memory, wiped by sodium_free */
    unsigned char *secret = sodium_malloc(SECRET_KEY_BYTES);
    char *text = sodium_malloc(KEY_FILE_LEN + 1);
    if (!secret || !text) {
        sodium_free(secret);
        sodium_free(text);
        selgw_explain(why, why_cap, "out of memory");
        return SELGW_ERR_NOMEM;
    }
    uint8_t pk[SELGW_PUBLIC_KEY_BYTES];
    crypto_sign_keypair(pk, secret);
    memcpy(text, KEY_FILE_HEADER, KEY_FILE_HEADER_LEN);
    sodium_bin2hex(text + KEY_FILE_HEADER_LEN, SECRET_KEY_HEX_LEN + 1, secret, SECRET_KEY_BYTES);
    text[KEY_FILE_LEN - 1] = '\n';
    text[KEY_FILE_LEN] = 0;
    sodium_free(secret);

    selgw_err err = SELGW_OK;
    /* O_EXCL: never replace a key whose public half an auditor may already hold */
    int fd =
        open(secret_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            selgw_explain(why, why_cap, "%s exists: not overwriting a key", secret_path);
        else
            selgw_explain(why, why_cap, "cannot create %s: %s", secret_path, strerror(errno));
        sodium_free(text);
        return SELGW_ERR_IO;
    }
    /* the umask may have taken bits away, never added them; make it exactly 0600 */
    if (fchmod(fd, 0600) != 0) {
        err = selgw_explain_errno(why, why_cap, errno, "cannot set mode 0600 on %s", secret_path);
    } else if (!write_all(fd, text, KEY_FILE_LEN)) {
        err = selgw_explain_errno(why, why_cap, errno, "cannot write %s", secret_path);
    } else if (fsync(fd) != 0) {
        /* a full disk may show only here (delayed allocation, NFS, a quota) */
        err = selgw_explain_errno(why, why_cap, errno, "cannot sync %s", secret_path);
    }
    sodium_free(text);
    if (close(fd) != 0 && err == SELGW_OK)
        err = selgw_explain_errno(why, why_cap, errno, "cannot close %s", secret_path);
    if (err == SELGW_OK)
        err = fsync_dir(secret_path, why, why_cap);
    if (err != SELGW_OK) {
        /* we created it (O_EXCL): a half-written key must not be mistaken for one */
        unlink(secret_path);
        return err;
    }
    selgw_public_key_format(pk, public_text);
    return SELGW_OK;
}

/* Reads the whole key file (it is small) into buf; false with errno when it cannot be read.
 * *len > KEY_FILE_LEN means the file is longer than a key file can be. */
static bool read_key_file(int fd, char *buf, size_t cap, size_t *len)
{
    *len = 0;
    while (*len < cap) {
        ssize_t n = read(fd, buf + *len, cap - *len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return false;
        if (n == 0)
            break;
        *len += (size_t)n;
    }
    return true;
}

/* Checks the text of a key file and decodes its secret key into secret. */
static bool parse_key_file(const char *buf, size_t len, unsigned char *secret)
{
    if (len != KEY_FILE_LEN || memcmp(buf, KEY_FILE_HEADER, KEY_FILE_HEADER_LEN) != 0 ||
        buf[KEY_FILE_LEN - 1] != '\n')
        return false;
    const char *hex = buf + KEY_FILE_HEADER_LEN;
    size_t decoded = 0;
    const char *hex_end = NULL;
    if (sodium_hex2bin(secret, SECRET_KEY_BYTES, hex, SECRET_KEY_HEX_LEN, NULL, &decoded,
                       &hex_end) != 0 ||
        decoded != SECRET_KEY_BYTES || hex_end != hex + SECRET_KEY_HEX_LEN)
        return false;
    /* the second half is the public key of the first (the seed): a damaged file fails here
     * instead of producing signatures nobody can verify */
    unsigned char seed[crypto_sign_SEEDBYTES];
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char check[SECRET_KEY_BYTES];
    crypto_sign_ed25519_sk_to_seed(seed, secret);
    crypto_sign_seed_keypair(pk, check, seed);
    bool ok = sodium_memcmp(check, secret, SECRET_KEY_BYTES) == 0;
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(check, sizeof(check));
    return ok;
}

selgw_err selgw_signer_load(const char *secret_path, selgw_signer **out, char *why, size_t why_cap)
{
    if (!out)
        return SELGW_ERR_INVALID;
    *out = NULL;
    if (!secret_path || !*secret_path) {
        selgw_explain(why, why_cap, "no secret key file given");
        return SELGW_ERR_INVALID;
    }
    if (!sodium_ready(why, why_cap))
        return SELGW_ERR_IO;

    struct stat st;
    if (stat(secret_path, &st) != 0) {
        if (errno == ENOENT)
            selgw_explain(why, why_cap, "no secret key at %s (create one with: selgw keygen %s)",
                          secret_path, secret_path);
        else
            selgw_explain(why, why_cap, "cannot read %s: %s", secret_path, strerror(errno));
        return SELGW_ERR_IO;
    }
    /* O_NONBLOCK: a FIFO must not hang start-up; it is refused as not a regular file */
    int fd = open(secret_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        selgw_explain(why, why_cap, "cannot read %s: %s", secret_path, strerror(errno));
        return SELGW_ERR_IO;
    }
    /* judge the file that was opened, not the name stat saw */
    if (fstat(fd, &st) != 0) {
        selgw_explain(why, why_cap, "cannot read %s: %s", secret_path, strerror(errno));
        close(fd);
        return SELGW_ERR_IO;
    }
    if (!S_ISREG(st.st_mode)) {
        selgw_explain(why, why_cap, "%s is not a regular file, so not a selgw key file",
                      secret_path);
        close(fd);
        return SELGW_ERR_INVALID;
    }
    if (st.st_mode & 077) {
        selgw_explain(why, why_cap, "%s can be read by others (mode %04o); chmod 600 %s",
                      secret_path, (unsigned)(st.st_mode & 07777), secret_path);
        close(fd);
        return SELGW_ERR_AUTH;
    }

    selgw_signer *signer = calloc(1, sizeof(*signer));
    /* one byte more than a key file, to tell a longer file from a key file */
    char *buf = sodium_malloc(KEY_FILE_LEN + 1);
    unsigned char *secret = sodium_malloc(SECRET_KEY_BYTES);
    selgw_err err = SELGW_OK;
    size_t len = 0;
    if (!signer || !buf || !secret) {
        selgw_explain(why, why_cap, "out of memory");
        err = SELGW_ERR_NOMEM;
    } else if (!read_key_file(fd, buf, KEY_FILE_LEN + 1, &len)) {
        selgw_explain(why, why_cap, "cannot read %s: %s", secret_path, strerror(errno));
        err = SELGW_ERR_IO;
    } else if (!parse_key_file(buf, len, secret)) {
        selgw_explain(
            why, why_cap,
            "%s is not a selgw secret key file (expected the line \"selgw-ed25519-secret-key 1\" "
            "and 128 hex digits of a valid key, as selgw keygen writes)",
            secret_path);
        err = SELGW_ERR_INVALID;
    }
    close(fd);
    sodium_free(buf);
    if (err != SELGW_OK) {
        sodium_free(secret);
        free(signer);
        return err;
    }
    crypto_sign_ed25519_sk_to_pk(signer->public_key, secret);
    sodium_mprotect_readonly(secret);
    signer->secret = secret;
    *out = signer;
    return SELGW_OK;
}

void selgw_signer_free(selgw_signer *signer)
{
    if (!signer)
        return;
    sodium_free(signer->secret); /* makes it writable, zeroes it, unmaps it */
    free(signer);
}

void selgw_signer_public_key(const selgw_signer *signer, uint8_t pk[SELGW_PUBLIC_KEY_BYTES])
{
    memcpy(pk, signer->public_key, SELGW_PUBLIC_KEY_BYTES);
}

void selgw_sign(const selgw_signer *signer, const uint8_t *msg, size_t len,
                uint8_t sig[SELGW_SIGNATURE_BYTES])
{
    crypto_sign_detached(sig, NULL, msg, len, signer->secret);
}

bool selgw_signature_ok(const uint8_t pk[SELGW_PUBLIC_KEY_BYTES], const uint8_t *msg, size_t len,
                        const uint8_t sig[SELGW_SIGNATURE_BYTES])
{
    if (!pk || !sig || (!msg && len) || !sodium_ready(NULL, 0))
        return false;
    return crypto_sign_verify_detached(sig, msg, len, pk) == 0;
}

void selgw_public_key_format(const uint8_t pk[SELGW_PUBLIC_KEY_BYTES],
                             char text[SELGW_PUBLIC_KEY_TEXT_SIZE])
{
    memcpy(text, PUBLIC_KEY_PREFIX, PUBLIC_KEY_PREFIX_LEN);
    sodium_bin2hex(text + PUBLIC_KEY_PREFIX_LEN, SELGW_PUBLIC_KEY_TEXT_SIZE - PUBLIC_KEY_PREFIX_LEN,
                   pk, SELGW_PUBLIC_KEY_BYTES);
}

bool selgw_public_key_parse(const char *text, uint8_t pk[SELGW_PUBLIC_KEY_BYTES])
{
    if (!text || !pk || !sodium_ready(NULL, 0))
        return false;
    if (strncmp(text, PUBLIC_KEY_PREFIX, PUBLIC_KEY_PREFIX_LEN) != 0)
        return false;
    const char *hex = text + PUBLIC_KEY_PREFIX_LEN;
    if (strlen(hex) != 2 * SELGW_PUBLIC_KEY_BYTES)
        return false;
    uint8_t key[SELGW_PUBLIC_KEY_BYTES];
    size_t decoded = 0;
    const char *hex_end = NULL;
    if (sodium_hex2bin(key, sizeof(key), hex, 2 * SELGW_PUBLIC_KEY_BYTES, NULL, &decoded,
                       &hex_end) != 0 ||
        decoded != sizeof(key) || hex_end != hex + 2 * SELGW_PUBLIC_KEY_BYTES)
        return false;
    /* not a point of the curve's main subgroup (or one of small order): no signature could
     * be checked against it, so it is a typo or a forgery, not a key */
    if (!crypto_core_ed25519_is_valid_point(key))
        return false;
    memcpy(pk, key, sizeof(key));
    return true;
}

void selgw_hash(const uint8_t *data, size_t len, uint8_t out[SELGW_HASH_BYTES])
{
    /* BLAKE2b works without sodium_init (the portable code is used then); the call only
     * selects the fastest implementation, so its failure changes nothing here */
    if (sodium_init() < 0) {
        /* nothing to do: the hash is the same either way */
    }
    crypto_generichash(out, SELGW_HASH_BYTES, data, len, NULL, 0);
}

void selgw_hash_hex(const uint8_t hash[SELGW_HASH_BYTES], char hex[2 * SELGW_HASH_BYTES + 1])
{
    sodium_bin2hex(hex, 2 * SELGW_HASH_BYTES + 1, hash, SELGW_HASH_BYTES);
}

void selgw_key_fingerprint(const uint8_t pk[SELGW_PUBLIC_KEY_BYTES],
                           char out[SELGW_KEY_FINGERPRINT_SIZE])
{
    uint8_t hash[SELGW_HASH_BYTES];
    selgw_hash(pk, SELGW_PUBLIC_KEY_BYTES, hash);
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (size_t i = 0; i < 10; i++) {
        if (i && i % 2 == 0)
            out[n++] = '-';
        out[n++] = hex[hash[i] >> 4];
        out[n++] = hex[hash[i] & 15];
    }
    out[n] = '\0';
}

selgw_err selgw_registered_key(const char *path, const uint8_t pk[SELGW_PUBLIC_KEY_BYTES],
                               bool *found, char *label, size_t label_cap, char *why,
                               size_t why_cap)
{
    *found = false;
    if (label_cap)
        label[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) {
        selgw_explain(why, why_cap, "%s: %s", path, strerror(errno));
        return SELGW_ERR_IO;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    unsigned line_no = 0;
    selgw_err err = SELGW_OK;
    while ((n = getline(&line, &cap, f)) >= 0) {
        line_no++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        bool has_nul = strlen(line) != (size_t)n;
        size_t lead = strspn(line, " \t");
        if (!has_nul && (!line[lead] || line[lead] == '#'))
            continue;
        char *key = line + lead;
        size_t key_len = strcspn(key, " \t");
        char *rest = key + key_len;
        if (*rest)
            *rest++ = '\0';
        uint8_t candidate[SELGW_PUBLIC_KEY_BYTES];
        if (has_nul || !selgw_public_key_parse(key, candidate)) {
            selgw_explain(why, why_cap,
                          "%s:%u: not a public key (expected ed25519:<64 hex digits> "
                          "and an optional label)",
                          path, line_no);
            err = SELGW_ERR_INVALID;
            break;
        }
        if (!*found && !memcmp(candidate, pk, SELGW_PUBLIC_KEY_BYTES)) {
            *found = true;
            rest += strspn(rest, " \t");
            if (label_cap)
                snprintf(label, label_cap, "%s", rest);
        }
    }
    if (err == SELGW_OK && ferror(f)) {
        selgw_explain(why, why_cap, "%s: %s", path, strerror(errno));
        err = SELGW_ERR_IO;
    }
    free(line);
    fclose(f);
    if (err != SELGW_OK)
        *found = false;
    return err;
}
