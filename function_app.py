"""The Functions app: creates it and registers one blueprint per trigger, nothing else."""

import azure.functions as func

from blueprints.chat_events import bp as chat_events

app = func.FunctionApp()
app.register_functions(chat_events)
