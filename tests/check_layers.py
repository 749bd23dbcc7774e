#!/usr/bin/env python3
"""The include graph follows the layers of docs/ARCHITECTURE.md.

Each directory may include headers only from the directories listed for it. The base is
below everything; sensors/ (profiles, decoding, Modbus frames) and the journal sit on the
base alone; the config on those three; the pipeline's parts (poll, sinks, evidence) never
include each other; only gateway.c and main.c, which assemble the pipeline, see all of it.
A test-hook header (TEST_ONLY) is included by the tests and by the file it belongs to, never
by other production code. Prints every include that points the wrong way, as FILE:LINE, and
exits 1 if there is one.
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

# layer -> the layers its files may include ("config" is gateway/config.h)
ALLOWED = {
    "base": {"base"},
    "sensors": {"base", "sensors"},
    "journal": {"base", "journal"},
    "config": {"base", "sensors", "journal", "config"},  # it embeds the journal's options
    "poll": {"base", "sensors", "config", "poll"},
    "sinks": {"base", "journal", "config", "sinks"},
    "evidence": {"base", "journal", "config", "evidence"},
    "sim": {"base", "sensors", "config", "sim"},
    # the alert engine: readings and rules in, transitions out (record.h: the alert enums)
    "alerts": {"base", "journal", "config", "alerts"},
    # the HTTP API reads a snapshot of plain data (http/status.h) that gateway.c builds
    "http": {"base", "http"},
    # the central archive: records in (journal/record.h), the uplink's message format
    # (sinks/uplink_msg.h, the one definition both sides share), its own config; as a
    # witness it signs with the evidence's keys and statements (evidence/witness.h)
    "archive": {"base", "journal", "sinks", "evidence", "archive"},
    "gateway": {"base", "sensors", "config", "poll", "journal", "sinks", "evidence", "http",
                "alerts", "archive", "gateway"},
}


# headers for the tests only -> the one file outside tests/ that may include each (the one
# that defines what it declares)
TEST_ONLY = {
    "journal/journal_testing.h": "gateway/journal/journal.c",
}


def layer_of_file(path):
    rel = path.relative_to(ROOT).parts
    if rel[0] == "gateway":
        if len(rel) == 2:
            return "config" if rel[1].startswith("config.") else "gateway"
        return rel[1]
    return rel[0]


def layer_of_include(name):
    parts = name.split("/")
    if len(parts) == 1:
        return "config" if name == "config.h" else "gateway"
    return parts[0]


def main():
    wrong = []
    for top in ("gateway", "sensors", "sim"):
        for path in sorted((ROOT / top).rglob("*.[ch]")):
            layer = layer_of_file(path)
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                match = re.match(r'\s*#\s*include\s+"([^"]+)"', line)
                if not match:
                    continue
                owner = TEST_ONLY.get(match.group(1))
                if owner and path.relative_to(ROOT).as_posix() != owner:
                    wrong.append(f"{path.relative_to(ROOT)}:{number}: includes "
                                 f"{match.group(1)}, which is for the tests (and {owner})")
                    continue
                target = layer_of_include(match.group(1))
                if target not in ALLOWED[layer]:
                    wrong.append(f"{path.relative_to(ROOT)}:{number}: {layer} includes "
                                 f"{match.group(1)} ({target})")
    for line in wrong:
        print(line)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
