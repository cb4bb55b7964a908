"""The Functions app: creates it and registers one blueprint per trigger, nothing else."""

import azure.functions as func

from blueprints.chat_events import bp as chat_events
from blueprints.rollup import bp as rollup
from blueprints.sweep import bp as sweep
from blueprints.thread_archive import bp as thread_archive

app = func.FunctionApp()
for blueprint in (chat_events, sweep, thread_archive, rollup):
    app.register_functions(blueprint)
