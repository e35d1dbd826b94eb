"""Tasks: the one intake every entry point uses, and the runner that executes a stored request.

Free of Flask views, so a worker imports it without the web layer.
"""
