"""The Slack bot's door (docs/DESIGN.md, "Slack bot"): Slack's events verified and
taken (views.py), each question's answer followed in this process and posted into its
thread chunk by chunk (answer.py, posting.py). Its rules and data are chat/slack/."""
