"""Test app: a blob trigger with source=EventGrid, which devhost refuses at start (it runs the polling source)."""

import azure.functions as func

app = func.FunctionApp()


@app.blob_trigger(
    arg_name="blob", path="uploads/{name}", connection="AzureWebJobsStorage", source=func.BlobSource.EVENT_GRID
)
def on_upload(blob: func.InputStream) -> None:
    pass
