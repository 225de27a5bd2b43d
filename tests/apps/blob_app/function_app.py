"""Test app: blob triggers with the polling source (InputStream, bytes and str parameters, name patterns
bound into an output path, a function that always fails for the poison path)."""

import json
import os

import azure.functions as func

app = func.FunctionApp()


def _note(line: str) -> None:
    """One line per invocation in BLOB_SEEN (the tests count invocations from it)."""
    with open(os.environ["BLOB_SEEN"], "a", encoding="utf-8") as seen:
        seen.write(line + "\n")


@app.blob_trigger(arg_name="blob", path="%BLOB_INPUT%/{name}", connection="AzureWebJobsStorage")
@app.blob_output(arg_name="out", path="%BLOB_OUTPUT%/{name}.json", connection="AzureWebJobsStorage")
def process_upload(blob: func.InputStream, out: func.Out[str]) -> None:
    """Writes what it was given next to the blob's name in the output container."""
    content = blob.read()
    properties = getattr(blob, "blob_properties", None) or {}
    _note(f"process_upload\t{blob.name}\t{properties.get('ETag')}")
    out.set(
        json.dumps(
            {
                "name": blob.name,
                "length": blob.length,
                "uri": blob.uri,
                "text": content.decode("utf-8"),
                "etag": properties.get("ETag"),
                "metadata": getattr(blob, "metadata", None),
            }
        )
    )


@app.blob_trigger(arg_name="data", path="%BLOB_PATTERN%/in/{stem}.{ext}", connection="AzureWebJobsStorage")
@app.blob_output(arg_name="out", path="%BLOB_OUTPUT%/pattern/{stem}-{ext}.txt", connection="AzureWebJobsStorage")
def pattern_bound(data: bytes, out: func.Out[str]) -> None:
    """Binds {stem} and {ext} from the blob name into the output path; gets the content as bytes."""
    _note(f"pattern_bound\t{len(data)}")
    out.set(f"{type(data).__name__}:{len(data)}")


@app.blob_trigger(arg_name="text", path="%BLOB_FAILING%/{name}", connection="AzureWebJobsStorage")
def always_fails(text: str) -> None:
    """Fails every time: after maxDequeueCount tries the blob is reported on webjobs-blobtrigger-poison."""
    _note(f"always_fails\t{text}")
    raise ValueError(f"cannot process {text!r}")
