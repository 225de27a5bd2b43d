"""Blob trigger paths: "container/{name}.{ext}" parsed into a container and a blob-name pattern whose
{names} bind from the blob's name, as the WebJobs SDK's BindingTemplateSource binds them.

The SDK turns each {name} into a greedy `(?<name>.*)`, escapes the literal text, doubles braces to
escape them ({{ and }}) and anchors the whole name (azure-webjobs-sdk BindingTemplateSourceTests,
BuildCapturePattern_IfValidTemplate_ReturnsValidRegexp: "{p1}-p2/{{2014}}/{d3}/folder/{name}.{ext}" ->
"^(?<p1>.*)-p2/\\{2014}/(?<d3>.*)/folder/(?<name>.*)\\.(?<ext>.*)$"). So "{name}" takes sub-folders
too, and "{name}.{ext}" splits at the last dot.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from devhost.errors import AppLoadError

_CONTAINER_NAME = re.compile(r"^(?=.{3,63}$)[a-z0-9](?:[a-z0-9]|-(?!-))*[a-z0-9]$")
_PARAMETER_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class BlobPathPattern:
    """A blobTrigger path: the container to watch and the blob names it fires for."""

    path: str
    container: str
    #: The blob-name part as written ("" when the path is only a container: every blob matches).
    name_template: str
    regex: re.Pattern[str]
    #: The {names} of the template, in order.
    parameters: tuple[str, ...]
    #: Literal text every matching name starts with (listed with a prefix filter, so fewer blobs travel).
    prefix: str

    def match(self, blob_name: str) -> dict[str, str] | None:
        """The {name} values for a blob in the container, or None when the name does not match."""
        found = self.regex.match(blob_name)
        if found is None:
            return None
        return {name: found.group(_group(index)) for index, name in enumerate(self.parameters)}


def _group(index: int) -> str:
    # Group names of our own: {names} may hold hyphens, which Python group names cannot.
    return f"p{index}"


def parse_blob_path(path: str, where: str) -> BlobPathPattern:
    """Parse a blobTrigger path; AppLoadError (naming where) when it is not "container[/name-pattern]"."""
    text = path.strip()
    container, _, template = text.partition("/")
    if "{" in container or "}" in container:
        raise AppLoadError(
            f"{where}: path {path!r}: the container name cannot be a {{binding expression}}; a blob trigger "
            'watches one container, so write it out (e.g. "uploads/{name}")'
        )
    if not _CONTAINER_NAME.match(container):
        raise AppLoadError(
            f"{where}: path {path!r}: {container!r} is not a valid container name; use 3-63 lower-case letters, "
            'digits and single hyphens, then "/" and the blob name pattern (e.g. "uploads/{name}")'
        )
    pieces: list[str] = ["^"]
    parameters: list[str] = []
    prefix: list[str] = []
    literal_so_far = True
    position = 0
    while position < len(template):
        char = template[position]
        pair = template[position : position + 2]
        if pair in ("{{", "}}"):
            pieces.append(re.escape(char))
            if literal_so_far:
                prefix.append(char)
            position += 2
            continue
        if char == "}":
            raise AppLoadError(f"{where}: path {path!r}: unmatched '}}' at position {position}; escape it as '}}}}'")
        if char == "{":
            end = template.find("}", position)
            if end < 0:
                raise AppLoadError(f"{where}: path {path!r}: '{{' without a closing '}}'; escape it as '{{{{'")
            name = template[position + 1 : end].strip()
            if not _PARAMETER_NAME.match(name):
                raise AppLoadError(
                    f"{where}: path {path!r}: {{{name}}} is not a parameter name; a blob trigger path binds plain "
                    "names such as {name} or {name}.{ext}"
                )
            if name.lower() in (existing.lower() for existing in parameters):
                raise AppLoadError(f"{where}: path {path!r}: {{{name}}} appears twice; use each name once")
            pieces.append(f"(?P<{_group(len(parameters))}>.*)")
            parameters.append(name)
            literal_so_far = False
            position = end + 1
            continue
        pieces.append(re.escape(char))
        if literal_so_far:
            prefix.append(char)
        position += 1
    if not template:
        pieces.append(".*")
    pieces.append("$")
    return BlobPathPattern(
        path=text,
        container=container,
        name_template=template,
        regex=re.compile("".join(pieces), re.DOTALL),
        parameters=tuple(parameters),
        prefix="".join(prefix),
    )
