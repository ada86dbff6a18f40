"""Render on other machines through Ray: GPU workers as Ray actors, the app and the CLI as Ray clients.

`protocol` is the plain data both sides exchange (torch-free), `worker` the actor body that keeps one
`Runtime` resident, `client` the connection and the scheduler that spreads jobs over the workers.
Ray itself is an optional extra (`pip install 'ltx-studio[cluster]'`): only `client` imports it, when a
cluster is asked for, so the local app and CLI never need it.
"""
