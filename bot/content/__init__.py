"""Content files: locales, requirements, curriculum, quiz bank, notices."""
