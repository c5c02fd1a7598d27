"""The appliance's local web server: operator display (kiosk, no login), technician console and /metrics.

It runs in its own threads (one uvicorn event loop per listener) and only *reads* what the service publishes
(status dictionaries, the latest frame a lane processed): a slow or hostile web client can never make a lane
wait. See edge/web/server.py for the listeners and edge/web/context.py for what pages may read.
"""
