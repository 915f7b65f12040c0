"""The rectification ledger (整改台账): items, reminders, Excel."""
