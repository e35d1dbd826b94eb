"""The drop-in gateway: OpenAI- and Anthropic-compatible chat endpoints in front of the cascade.

One job per module:

* ``chat``             — the gateway's own request/answer shape (Anthropic-shaped messages and blocks)
* ``openai_format``    — Chat Completions in and out, and the messages sent to OpenAI-compatible providers
* ``anthropic_format`` — Messages API in and out
* ``streaming``        — server-sent events in both formats
* ``models``           — the model names (``tiergate/auto``, ``tiergate/tierN``, pinned policy models)
* ``routing``          — routing rules for chat traffic (whole conversation, tools, long context)
* ``calls``            — one call end to end: decide, store, run the cascade, record, answer
* ``live``             — live streaming (policy ``gateway.stream: live``): the routed tier's tokens, ungated

The views are in ``app.api.gateway``. The format modules import nothing from Flask, so providers may
use them.
"""
