"""The capacity benchmark of Focus Companion: ``python -m bench`` (see BENCHMARKS.md).

Every figure runs the real bot code — ``bot.telegram.app.build_application``, its handlers, the
policy, storage on a real SQLite file and the dispatcher — against the in-process Bot
API (:mod:`bot.offline.local_api`), or over HTTP on 127.0.0.1 for the flood figure. Nothing is
simulated but Telegram itself, and every number printed is measured in the run that prints it.
"""
