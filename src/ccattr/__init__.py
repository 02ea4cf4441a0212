"""ccattr: why do fine-tuned LLMs translate building-code clauses into the rules they do?

One module per concern: config, corpus, validation, rules, categories, models, prompts,
finetune, generate, metrics, attribution, stats, tracking, report (see README).
"""

__version__ = "0.1.0"
