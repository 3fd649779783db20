"""JUnit XML, the format CI dashboards read: a suite per part, a case per test."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from grader.result import GradeResult, Status


def render(result: GradeResult) -> str:
    failures = sum(1 for t in result.tests if t.status is Status.failed)
    root = ET.Element(
        "testsuites",
        name=f"{result.exercise}: {result.title}",
        tests=str(len(result.tests)),
        failures=str(failures),
        errors="0",
        time=f"{result.duration_s:.3f}",
    )
    for part in result.parts:
        tests = [t for t in result.tests if t.part == part.name]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=part.name,
            tests=str(len(tests)),
            failures=str(sum(1 for t in tests if t.status is Status.failed)),
            errors="0",
            skipped="0",
            time="0",
        )
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="score", value=f"{part.score:g}")
        ET.SubElement(props, "property", name="max_score", value=f"{part.max_score:g}")
        for t in tests:
            case = ET.SubElement(
                suite, "testcase", classname=f"{result.exercise}.{part.name}", name=t.name, time="0"
            )
            if t.status is Status.failed:
                failure = ET.SubElement(
                    case, "failure", message=t.reason[:500], type="GradingFailure"
                )
                failure.text = f"{t.reason}\n{t.score:g}/{t.max_score:g} points" + (
                    f"\nat {t.where}" if t.where else ""
                )
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
