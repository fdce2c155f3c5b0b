"""The admin theme's own words that Django's catalogue lacks, for our catalogue.

django-unfold ships no translations: its templates ask gettext for words such as
"Welcome back to" or "Reset filters", which only Django's admin catalogue could answer,
and it does not know them. Listed here, ``makemessages`` copies them into
``locale/*/LC_MESSAGES/django.po``, where they are translated like our own words.
Nothing imports this module. After upgrading django-unfold, compare the German admin
with tests/i18n (docs/i18n.md says how).
"""

from __future__ import annotations

from django.utils.translation import gettext_noop

MESSAGES = (
    # Sign-in, sign-out and the page header.
    gettext_noop("Welcome back to"),
    gettext_noop("Forgotten your password or username?"),
    gettext_noop("Toggle password visibility"),
    gettext_noop("Return to site"),
    gettext_noop("You have been successfully logged out from the administration"),
    gettext_noop("Light"),
    gettext_noop("Dark"),
    gettext_noop("System"),
    # Navigation and search.
    gettext_noop("All applications"),
    gettext_noop("Search apps and models..."),
    gettext_noop("Type to search"),
    gettext_noop("Recent searches"),
    gettext_noop("No recent searches"),
    gettext_noop("No results matching your query"),
    gettext_noop("Loading more results..."),
    # Change lists: filters, actions, rows, paging.
    gettext_noop("Apply Filters"),
    gettext_noop("Reset filters"),
    gettext_noop("Select value"),
    gettext_noop("True"),
    gettext_noop("False"),
    gettext_noop("From"),
    gettext_noop("To"),
    gettext_noop("Date from"),
    gettext_noop("Date to"),
    gettext_noop("Select action"),
    gettext_noop("Select action to run"),
    gettext_noop("Run"),
    gettext_noop("More actions"),
    gettext_noop("Select all rows"),
    gettext_noop("Select record"),
    gettext_noop("Expand row"),
    gettext_noop("Collapse"),
    gettext_noop("No results found"),
    gettext_noop("This page yielded into no results. Create a new item or reset your filters."),
    gettext_noop("Previous"),
    gettext_noop("Next"),
    gettext_noop("No data"),
    gettext_noop("Not enough data."),
    # Change forms and inlines.
    gettext_noop("General"),
    gettext_noop("Add row"),
    gettext_noop("Add new item"),
    gettext_noop("This item will be deleted."),
    gettext_noop("Click to cancel"),
    gettext_noop("Edit"),
    gettext_noop("Cancel"),
    gettext_noop("Submit"),
    gettext_noop("Go back"),
    gettext_noop("Choose file to upload"),
    gettext_noop("Current file"),
    gettext_noop("Date"),
    # Users and groups (the platform operator's pages).
    gettext_noop("Manage user"),
    gettext_noop("Manage group"),
    gettext_noop("User permissions"),
    gettext_noop("Group permissions"),
    gettext_noop("After you've created a user, you’ll be able to edit more user options."),
    gettext_noop(
        "Raw passwords are not stored, so there is no way to see this user’s password, but "
        'you can change the password using <a href="{}" class="text-primary-600 '
        'dark:text-primary-500">this form</a>.'
    ),
)
