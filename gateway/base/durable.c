#include "base/durable.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* mkstemp's six characters follow */
#define TEMP_SUFFIX ".tmp-"

char *selgw_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    if (slash == path)
        return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

selgw_err selgw_fsync_parent(const char *path)
{
    char *dir = selgw_parent_dir(path);
    if (!dir)
        return SELGW_ERR_NOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return SELGW_ERR_IO;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc == 0 ? SELGW_OK : SELGW_ERR_IO;
}

selgw_err selgw_durable_temp(const char *path, mode_t mode, int *fd, char **tmp)
{
    size_t cap = strlen(path) + 16;
    char *name = malloc(cap);
    if (!name) {
        errno = ENOMEM;
        return SELGW_ERR_NOMEM;
    }
    snprintf(name, cap, "%s" TEMP_SUFFIX "XXXXXX", path);
    int d = mkstemp(name);
    if (d < 0 || fchmod(d, mode) != 0) {
        int e = errno;
        if (d >= 0) {
            close(d);
            unlink(name);
        }
        free(name);
        errno = e;
        return selgw_err_from_errno(e);
    }
    *fd = d;
    *tmp = name;
    return SELGW_OK;
}

selgw_err selgw_durable_commit(int fd, char *tmp, const char *path)
{
    selgw_err err = SELGW_OK;
    int e = 0;
    if (fdatasync(fd) != 0) {
        e = errno;
        err = selgw_err_from_errno(e);
    }
    if (close(fd) != 0 && err == SELGW_OK) {
        e = errno;
        err = selgw_err_from_errno(e);
    }
    if (err == SELGW_OK && rename(tmp, path) != 0) {
        e = errno;
        err = selgw_err_from_errno(e);
    }
    if (err != SELGW_OK)
        unlink(tmp);
    else if ((err = selgw_fsync_parent(path)) != SELGW_OK)
        e = errno;
    free(tmp);
    errno = e;
    return err;
}

void selgw_durable_abandon(int fd, char *tmp)
{
    int e = errno;
    if (fd >= 0)
        close(fd);
    if (tmp)
        unlink(tmp);
    free(tmp);
    errno = e;
}

selgw_err selgw_durable_replace(const char *path, mode_t mode, selgw_file_writer write, void *ctx)
{
    int fd = -1;
    char *tmp = NULL;
    selgw_err err = selgw_durable_temp(path, mode, &fd, &tmp);
    if (err != SELGW_OK)
        return err;
    /* the stream writes through a duplicate, so that fd stays open for the commit */
    int dup_fd = dup(fd);
    FILE *f = dup_fd >= 0 ? fdopen(dup_fd, "w") : NULL;
    if (!f) {
        int e = errno;
        if (dup_fd >= 0)
            close(dup_fd);
        selgw_durable_abandon(fd, tmp);
        errno = e;
        return selgw_err_from_errno(e);
    }
    err = write(f, ctx);
    int e = errno;
    if (err == SELGW_OK && fflush(f) != 0) {
        e = errno;
        err = selgw_err_from_errno(e);
    }
    if (fclose(f) != 0 && err == SELGW_OK) {
        e = errno;
        err = selgw_err_from_errno(e);
    }
    if (err != SELGW_OK) {
        selgw_durable_abandon(fd, tmp);
        errno = e;
        return err;
    }
    return selgw_durable_commit(fd, tmp, path);
}

bool selgw_durable_is_temp(const char *name)
{
    size_t len = strlen(name), suffix = strlen(TEMP_SUFFIX);
    if (len < suffix + 6 + 1 || memcmp(name + len - 6 - suffix, TEMP_SUFFIX, suffix) != 0)
        return false;
    for (size_t i = len - 6; i < len; i++)
        if (!isalnum((unsigned char)name[i]))
            return false;
    return true;
}

size_t selgw_durable_remove_temps(const char *dir, const char *name, int min_age_s)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t removed = 0, name_len = name ? strlen(name) : 0;
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!selgw_durable_is_temp(e->d_name) ||
            (name && (strncmp(e->d_name, name, name_len) != 0 ||
                      strlen(e->d_name) != name_len + strlen(TEMP_SUFFIX) + 6)))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode) ||
            (min_age_s > 0 && now - st.st_mtime < min_age_s))
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}
