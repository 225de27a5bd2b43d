"""Functions route templates: parameters, constraints, optional and catch-all segments, precedence."""

from __future__ import annotations

import pytest

from devhost.triggers.http import compile_route


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("hello", "hello", {}),
        ("hello", "HELLO", {}),
        ("hello", "hello/x", None),
        ("items/{id}", "items/42", {"id": "42"}),
        ("items/{id:int}", "items/42", {"id": "42"}),
        ("items/{id:int}", "items/abc", None),
        ("items/{id:int:min(10)}", "items/9", None),
        ("items/{id:int:min(10)}", "items/10", {"id": "10"}),
        ("items/{name:alpha}", "items/abc", {"name": "abc"}),
        ("items/{name:alpha}", "items/ab1", None),
        ("items/{g:guid}", "items/0f8fad5b-d9cb-469f-a165-70867728950e", {"g": "0f8fad5b-d9cb-469f-a165-70867728950e"}),
        ("products/{category:alpha}/{id:int?}", "products/books", {"category": "books"}),
        ("products/{category:alpha}/{id:int?}", "products/books/3", {"category": "books", "id": "3"}),
        ("opt/{x=dflt}", "opt", {"x": "dflt"}),
        ("files/{*rest}", "files/a/b/c", {"rest": "a/b/c"}),
        ("files/{*rest}", "files", {}),
        ("{a}-{b}", "x-y", {"a": "x", "b": "y"}),
        ("", "", {}),
    ],
)
def test_matching(template: str, path: str, expected: dict[str, str] | None):
    assert compile_route(template).match(path) == expected


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ("a/{x?}/b", "only allowed in the last segment"),
        ("a/{*x}/b", "only allowed in the last segment"),
        ("a/{x}/{x}", "appears twice"),
        ("a/{x:regex(^a$)}", "unsupported constraint"),
        ("a//b", "empty segment"),
        ("a/{1x}", "invalid parameter name"),
    ],
)
def test_invalid_templates(template: str, fragment: str):
    with pytest.raises(ValueError, match="route") as error:
        compile_route(template)
    assert fragment in str(error.value)


def test_literal_routes_take_precedence():
    literal = compile_route("items/special")
    param = compile_route("items/{id}")
    catch_all = compile_route("{*all}")
    assert sorted([catch_all, param, literal], key=lambda r: r.precedence) == [literal, param, catch_all]
