"""The tools the official MCP conformance suite calls, as MCP_TOOLS_STRING source.

The test hands this file's text to the runtime exactly as an MCPServer's `params` would
(`python-string`), so the suite exercises the runtime's own path: source -> tools ->
streamable HTTP. Names, arguments and answers follow the suite's server requirements
(`conformance list`, and each scenario's description).
"""

import base64

from fastmcp import Context
from fastmcp.utilities.types import Audio, Image
from mcp_types import (
    EmbeddedResource,
    ImageContent,
    SamplingMessage,
    TextContent,
    TextResourceContents,
)

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
WAV = "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA="


def test_simple_text() -> str:
    """Tests simple text content response."""
    return "This is a simple text response for testing."


def test_image_content() -> Image:
    """Tests image content response."""
    return Image(data=base64.b64decode(PNG), format="png")


def test_audio_content() -> Audio:
    """Tests audio content response."""
    return Audio(data=base64.b64decode(WAV), format="wav")


def _resource(uri: str, mime_type: str, text: str) -> EmbeddedResource:
    contents = TextResourceContents(uri=uri, mime_type=mime_type, text=text)
    return EmbeddedResource(type="resource", resource=contents)


def test_embedded_resource() -> EmbeddedResource:
    """Tests embedded resource content response."""
    return _resource(
        "test://embedded-resource", "text/plain", "This is an embedded resource content."
    )


def test_multiple_content_types() -> list:
    """Tests response with multiple content types (text, image, resource)."""
    return [
        TextContent(type="text", text="Multiple content types test:"),
        ImageContent(type="image", data=PNG, mime_type="image/png"),
        _resource(
            "test://mixed-content-resource", "application/json", '{"test": "data", "value": 123}'
        ),
    ]


async def test_tool_with_logging(ctx: Context) -> str:
    """Tests tool that emits log messages during execution."""
    for message in ("Tool execution started", "Tool processing data", "Tool execution completed"):
        await ctx.info(message)
    return "Tool with logging executed successfully"


async def test_tool_with_progress(ctx: Context) -> str:
    """Tests tool that reports progress notifications."""
    for progress in (0, 50, 100):
        await ctx.report_progress(progress, 100, f"Completed step {progress} of 100")
    return "done"


def test_error_handling() -> str:
    """Tests error response handling."""
    raise RuntimeError("This tool intentionally returns an error for testing")


async def test_sampling(prompt: str, ctx: Context) -> str:
    """Tests server-initiated sampling (needs a stateful server: FASTMCP_STATELESS_HTTP=false)."""
    message = SamplingMessage(role="user", content=TextContent(type="text", text=prompt))
    result = await ctx.session.create_message(
        messages=[message], max_tokens=100, related_request_id=ctx.origin_request_id
    )
    return f"LLM response: {getattr(result.content, 'text', '')}"


async def _elicit(ctx: Context, message: str, schema: dict) -> str:
    result = await ctx.session.elicit_form(
        message, schema, related_request_id=ctx.origin_request_id
    )
    return f"action={result.action}, content={result.content or {}}"


async def test_elicitation(message: str, ctx: Context) -> str:
    """Tests server-initiated elicitation (needs a stateful server)."""
    schema = {
        "type": "object",
        "properties": {"response": {"type": "string", "description": "User's response"}},
        "required": ["response"],
    }
    return "User response: " + await _elicit(ctx, message, schema)


async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
    """Tests elicitation with default values (SEP-1034)."""
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "User name", "default": "John Doe"},
            "age": {"type": "integer", "description": "User age", "default": 30},
            "score": {"type": "number", "description": "User score", "default": 95.5},
            "status": {
                "type": "string",
                "description": "User status",
                "enum": ["active", "inactive", "pending"],
                "default": "active",
            },
            "verified": {"type": "boolean", "description": "Verification status", "default": True},
        },
        "required": [],
    }
    message = "Please review and update the form fields with defaults"
    return "Elicitation completed: " + await _elicit(ctx, message, schema)


async def test_elicitation_sep1330_enums(ctx: Context) -> str:
    """Tests elicitation with the enum schema variants (SEP-1330)."""
    options = ["option1", "option2", "option3"]
    titled = [
        {"const": f"value{i}", "title": t} for i, t in ((1, "First"), (2, "Second"), (3, "Third"))
    ]
    schema = {
        "type": "object",
        "properties": {
            "untitledSingle": {
                "type": "string",
                "description": "Select one option",
                "enum": options,
            },
            "titledSingle": {"type": "string", "description": "Select one", "oneOf": titled},
            "legacyEnum": {
                "type": "string",
                "description": "Select one option (legacy)",
                "enum": ["opt1", "opt2", "opt3"],
                "enumNames": ["Option One", "Option Two", "Option Three"],
            },
            "untitledMulti": {
                "type": "array",
                "description": "Select several",
                "minItems": 1,
                "maxItems": 3,
                "items": {"type": "string", "enum": options},
            },
            "titledMulti": {
                "type": "array",
                "description": "Select several with titles",
                "minItems": 1,
                "maxItems": 3,
                "items": {"anyOf": titled},
            },
        },
        "required": [],
    }
    message = "Please select options from the enum fields"
    return "Elicitation completed: " + await _elicit(ctx, message, schema)
