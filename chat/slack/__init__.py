"""The Slack bot's rules and data (docs/DESIGN.md, "Slack bot"): which events start an
answer, the thread a conversation is tied to, the Slack user's local account, the
events already taken, the pace of posts and the answer's text in Slack's mrkdwn.
The door that talks to Slack is chat/transports/slack/."""
