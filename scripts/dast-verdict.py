"""Reads Wapiti's JSON report (scripts/dast), prints every finding, and
exits 1 if any is of medium level or worse, or if the scan attacked nothing.

Wapiti's levels: 0 info, 1 low, 2 medium, 3 high, 4 critical
(wapitiCore/language/vulnerability.py). Its report keeps findings in three
groups: `vulnerabilities` and `anomalies` (a 5xx or a timeout under attack)
carry a level each; `additionals` are informational.
"""

import json
import sys

FAIL_AT = 2
LEVELS = {0: "info", 1: "low", 2: "medium", 3: "high", 4: "critical"}


def main(path: str) -> int:
    with open(path, encoding="utf-8") as f:
        report = json.load(f)
    failing = 0
    for group in ("vulnerabilities", "anomalies", "additionals"):
        for category, findings in sorted(report.get(group, {}).items()):
            for finding in findings:
                level = finding.get("level", 0)
                failing += level >= FAIL_AT
                print(
                    f"{LEVELS.get(level, level):>8}  {category}: {finding['method']} {finding['path']}"
                    f" [{finding.get('parameter') or '-'}] {finding.get('info', '')}"
                )
    info = report.get("infos", {})
    crawled = info.get("crawled_pages_nbr", 0)
    print(f"dast: {crawled} requests crawled from the OpenAPI document, {failing} medium or worse")
    if crawled == 0:
        print("dast: the scan reached no endpoint; check the OpenAPI URL and the server log", file=sys.stderr)
        return 1
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
