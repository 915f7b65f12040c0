"""The rectification ledger: items, reminders, Excel."""

# 整改台账 in the notice's words.
