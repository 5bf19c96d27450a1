#!/usr/bin/env python3
"""Sum meson testlog.json files and pytest junit XML into one totals line."""
import json, os, sys
import xml.etree.ElementTree as ET

d = sys.argv[1]
passed = failed = skipped = 0
details = []
for name in sorted(os.listdir(d)):
    path = os.path.join(d, name)
    if name.endswith('.json'):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                r = json.loads(line).get('result', '')
                if r in ('OK', 'EXPECTEDFAIL'):
                    passed += 1
                elif r == 'SKIP':
                    skipped += 1
                else:
                    failed += 1
                    # The failing test's "not ok" lines and its last output,
                    # so a log cut to its tail still says what broke.
                    rec = json.loads(line)
                    out = (rec.get('stdout') or '') + (rec.get('stderr') or '')
                    bad = [l for l in out.splitlines() if l.startswith('not ok')]
                    details.append(f"FAILED {name}: {rec.get('name')} ({r})")
                    details += ['  ' + l for l in bad[:20]]
                    details += ['  | ' + l for l in out.splitlines()[-15:]]
    elif name.endswith('.xml'):
        root = ET.parse(path).getroot()
        for tc in root.iter('testcase'):
            if tc.find('failure') is not None or tc.find('error') is not None:
                failed += 1
                details.append(f"FAILED e2e: {tc.get('classname')}::{tc.get('name')}")
            elif tc.find('skipped') is not None:
                skipped += 1
            else:
                passed += 1
for l in details:
    print(l[:300])
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
