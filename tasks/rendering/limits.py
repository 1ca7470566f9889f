"""Slack's limits on one message, which every part of a rendered message must keep to.

Their own module so that `messages` (which assembles a message) and `tables` (which draws one
part of it) both build on them without importing each other.
"""

SECTION_LIMIT = 3000  # characters of one section's text
MAX_BLOCKS = 50  # blocks in one message
TEXT_LIMIT = 40_000  # characters of a message's text; Slack truncates beyond
