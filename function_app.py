"""The Functions app: creates it and registers one blueprint per trigger, nothing else."""

import azure.functions as func

from blueprints.dispose import bp as dispose
from blueprints.events import bp as events
from blueprints.rollup import bp as rollup
from blueprints.seal import bp as seal
from blueprints.send import bp as send
from blueprints.sweep import bp as sweep
from blueprints.thread_archive import bp as thread_archive

app = func.FunctionApp()
for blueprint in (events, sweep, thread_archive, send, seal, rollup, dispose):
    app.register_functions(blueprint)
