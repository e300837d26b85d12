"""Sandbox Fortnox: an in-memory stand-in for the Fortnox API v3, to run and test Ordreflyt
without an ERP account.

It follows the Fortnox facts the pipeline relies on (envelopes, string numbers, substring
searches, capitalised 404s, OAuth token rotation, the 25-per-5-seconds sliding rate limit, the
warehouse module) and adds `/_sandbox` routes to read and steer it. Start it with
`ordreflyt-sandbox-fortnox`, or build the app with `ordreflyt_sandbox_fortnox.app.make_app`.
"""
