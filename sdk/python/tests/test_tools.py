"""Tool definitions and answers: MCP's optional fields (``title``, ``outputSchema``,
``annotations``) are checked and kept, and a structured answer carries ``structuredContent``.

Owns: ``normalize_metadata``'s rules for tools and ``tool_result``'s shape; no process, no I/O.
"""

import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from plugboard import ToolResult  # noqa: E402
from plugboard.metadata import MetadataError, normalize_metadata  # noqa: E402
from plugboard.tools import tool_result  # noqa: E402


class ToolDefinitionTests(unittest.TestCase):
    def test_optional_fields_are_kept(self) -> None:
        tool = {
            "name": "total",
            "title": "Total",
            "inputSchema": {"type": "object"},
            "outputSchema": {"type": "object", "properties": {"total": {"type": "integer"}}},
            "annotations": {"readOnlyHint": True, "idempotentHint": True, "title": "Total"},
        }
        normalized = normalize_metadata({"tools": [tool]})["tools"][0]
        self.assertEqual(normalized, {**tool, "description": ""})

    def test_a_first_protocol_tool_still_reads(self) -> None:
        normalized = normalize_metadata({"tools": [{"name": "greet"}]})["tools"][0]
        self.assertEqual(
            normalized, {"name": "greet", "description": "", "inputSchema": {"type": "object"}}
        )

    def test_bad_optional_fields_are_refused_with_their_place(self) -> None:
        cases = [
            ({"name": "a", "outputSchema": "object"}, "metadata.tools[0].outputSchema"),
            ({"name": "a", "title": 3}, "metadata.tools[0].title"),
            ({"name": "a", "annotations": {"readOnlyHint": "yes"}}, "readOnlyHint"),
            ({"name": "a", "annotations": {"sideEffects": True}}, "sideEffects"),
            ({"name": "a", "annotations": []}, "metadata.tools[0].annotations"),
        ]
        for tool, says in cases:
            with self.subTest(tool=tool):
                with self.assertRaises(MetadataError) as raised:
                    normalize_metadata({"tools": [tool]})
                self.assertIn(says, str(raised.exception))


class ToolResultTests(unittest.TestCase):
    def test_a_string_is_one_text_block(self) -> None:
        self.assertEqual(
            tool_result("hi"), {"content": [{"type": "text", "text": "hi"}], "isError": False}
        )

    def test_a_json_answer_is_structured_and_text(self) -> None:
        self.assertEqual(
            tool_result(ToolResult.json({"total": 3})),
            {
                "content": [{"type": "text", "text": '{"total": 3}'}],
                "isError": False,
                "structuredContent": {"total": 3},
            },
        )

    def test_a_failure_says_why(self) -> None:
        self.assertEqual(
            tool_result(ToolResult.text("the disk is full", is_error=True)),
            {"content": [{"type": "text", "text": "the disk is full"}], "isError": True},
        )


if __name__ == "__main__":
    unittest.main()
