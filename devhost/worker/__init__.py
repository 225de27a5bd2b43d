"""The worker process: imports the app, answers the host's requests by running user code.

Like the Python language worker of the Functions host, it imports the app once per process, runs sync
functions on a thread pool (PYTHON_THREADPOOL_THREAD_COUNT) and async ones on its event loop. It imports
only the standard library, the azure-functions SDKs and devhost.protocol, never the host's engine.
"""
