"""Emails about unread messages (API.md, Notifications).

`message_sent` is the one call the send path makes; the job in `messaging.tasks`
decides and sends (`services.unread_email_send`); `tokens` signs unsubscribe links;
`views` serves them. The state lives in `models.UnreadEmail`.
"""
