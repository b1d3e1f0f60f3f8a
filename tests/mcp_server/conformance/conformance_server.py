"""The MCP conformance suite's server fixtures as a package (`MCP_PACKAGE` mode).

The tools of `conformance_tools.py` plus the resources, prompts and completion handler
the suite's resource, prompt and completion scenarios ask for: a user's package serving
them through the runtime.
"""

import base64
import inspect
import json

import conformance_tools
from fastmcp import FastMCP
from fastmcp.prompts import Message
from mcp_types import Completion, EmbeddedResource, ImageContent, TextResourceContents

mcp = FastMCP("mcp-conformance-test-server")

for _name, _function in inspect.getmembers(conformance_tools, inspect.isfunction):
    if _name.startswith("test_") and _function.__module__ == conformance_tools.__name__:
        mcp.tool(_function)


@mcp.resource("test://static-text", mime_type="text/plain")
def static_text() -> str:
    """A static text resource for testing."""
    return "This is the content of the static text resource."


@mcp.resource("test://static-binary", mime_type="image/png")
def static_binary() -> bytes:
    """A static binary resource (image) for testing."""
    return base64.b64decode(conformance_tools.PNG)


@mcp.resource("test://template/{id}/data", mime_type="application/json")
def template(id: str) -> str:
    """A resource template with parameter substitution."""
    return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"})


@mcp.resource("test://watched-resource", mime_type="text/plain")
def watched_resource() -> str:
    """A resource that may change."""
    return "Watched resource content"


@mcp.prompt
def test_simple_prompt() -> str:
    """A simple prompt without arguments."""
    return "This is a simple prompt for testing."


@mcp.prompt
def test_prompt_with_arguments(arg1: str, arg2: str) -> str:
    """A prompt with required arguments."""
    return f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'"


@mcp.prompt
def test_prompt_with_embedded_resource(resourceUri: str) -> list[Message]:
    """A prompt that includes an embedded resource."""
    contents = TextResourceContents(
        uri=resourceUri, mime_type="text/plain", text="Embedded resource content for testing."
    )
    return [
        Message(EmbeddedResource(type="resource", resource=contents)),
        Message("Please process the embedded resource above."),
    ]


@mcp.prompt
def test_prompt_with_image() -> list[Message]:
    """A prompt that includes image content."""
    image = ImageContent(type="image", data=conformance_tools.PNG, mime_type="image/png")
    return [Message(image), Message("Please analyze the image above.")]


@mcp.completion
def complete(reference, argument, context) -> Completion:
    """No suggestions (the suite checks the shape of the answer)."""
    return Completion(values=[], total=0, has_more=False)
