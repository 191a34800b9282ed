#!/usr/bin/env python3
"""Compare a kazoo-suite run with tests/compat/expected-failures.txt.

Usage: check_expected.py RESULTS_JSON EXPECTED_FAILURES_TXT

RESULTS_JSON is written by rookery_plugin.py (env ROOKERY_COMPAT_RESULTS):
{"exitstatus": N, "tests": {nodeid: "passed"|"failed"|"skipped"}}.

Each non-blank, non-comment line of the expected-failures file is
    <pytest node id>  # <reason> (issue N)
Exit status 0 only if every failed test is listed AND every listed test that
ran did fail (a listed test that now passes must be removed from the list, so
the list only shrinks).  Listed tests that were not run (a subset run) or were
skipped are only mentioned.  A pytest exit status other than 0/1 (interrupted,
internal error, usage error, no tests) is a failure too.
"""
import json
import sys


def load_expected(path):
    expected = {}
    with open(path) as f:
        for n, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            nodeid, _, reason = line.partition("#")
            nodeid = nodeid.strip()
            if " " in nodeid:
                sys.exit("%s:%d: malformed line (want '<node id>  # reason'): %r"
                         % (path, n, raw.rstrip()))
            if nodeid in expected:
                sys.exit("%s:%d: duplicate entry %s" % (path, n, nodeid))
            expected[nodeid] = reason.strip()
    return expected


def main(argv):
    if len(argv) != 3:
        sys.exit(__doc__)
    with open(argv[1]) as f:
        results = json.load(f)
    expected = load_expected(argv[2])
    tests = results.get("tests", {})
    status = results.get("exitstatus")

    failed = {t for t, o in tests.items() if o == "failed"}
    unexpected = sorted(failed - set(expected))
    expected_failed = sorted(failed & set(expected))
    now_passing = sorted(t for t in expected if tests.get(t) == "passed")
    not_run = sorted(t for t in expected if t not in tests)
    skipped = sorted(t for t in expected if tests.get(t) == "skipped")

    ok = True
    print("---- expected-failures check (%s)" % argv[2])
    print("failed: %d (%d expected, %d unexpected); list has %d entries"
          % (len(failed), len(expected_failed), len(unexpected), len(expected)))
    for t in expected_failed:
        print("  expected failure: %s  # %s" % (t, expected[t]))
    for t in unexpected:
        print("UNEXPECTED FAILURE: %s" % t)
        ok = False
    for t in now_passing:
        print("NOW PASSING, remove it from the list: %s" % t)
        ok = False
    for t in skipped:
        print("  listed but skipped: %s" % t)
    if not_run and len(not_run) < len(expected):
        for t in not_run:
            print("  listed but not run: %s" % t)
    elif not_run:
        print("  none of the listed tests ran")
    if status not in (0, 1):
        print("PYTEST EXIT STATUS %s (interrupted, internal error or no tests)"
              % status)
        ok = False
    if not tests:
        print("NO TEST RESULTS")
        ok = False
    print("expected-failures check: %s" % ("OK" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
