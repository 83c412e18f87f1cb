"""goldkey web UI and JSON API (Starlette). The engine's CLI is the interface until the UI lands."""
