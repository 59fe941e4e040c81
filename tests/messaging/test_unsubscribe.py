"""The unsubscribe link of every notification email: no login, one click, signed."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from core.models import User
from core.tokens import issue_pair
from messaging.notifications.tokens import unsubscribe_token

pytestmark = pytest.mark.django_db


def link(user: User) -> str:
    return reverse("unsubscribe", args=[unsubscribe_token(user.pk)])


def notify_email(user: User) -> bool:
    user.refresh_from_db()
    return user.notify_email


def test_the_page_asks_first_and_its_button_turns_emails_off_without_login(bob: User) -> None:
    browser = Client(enforce_csrf_checks=True)  # a real browser's CSRF rules, no session
    page = browser.get(link(bob))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Turn off these emails" in html
    assert bob.email not in html  # only a hint of the address (b…@example.com)
    assert f"{bob.email[0]}…@example.com" in html
    assert page["Referrer-Policy"] == "no-referrer"
    assert notify_email(bob) is True  # a GET (a mail scanner following links) changes nothing
    done = browser.post(link(bob))  # the page's form: no CSRF token needed, the link is the key
    assert done.status_code == 200
    assert "You will get no more emails" in done.content.decode()
    assert notify_email(bob) is False
    again = browser.get(link(bob))
    assert "already off" in again.content.decode()


def test_the_one_click_post_of_a_mail_client_works(bob: User) -> None:
    response = Client(enforce_csrf_checks=True).post(
        link(bob), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert notify_email(bob) is False
    # twice is the same
    assert (
        Client()
        .post(
            link(bob),
            "List-Unsubscribe=One-Click",
            content_type="application/x-www-form-urlencoded",
        )
        .status_code
        == 200
    )
    assert notify_email(bob) is False


def test_a_signed_in_stranger_following_someone_elses_link_unsubscribes_only_them(
    alice: User, bob: User
) -> None:
    client = Client()
    client.cookies["stayhub_access"] = issue_pair(alice).access
    assert client.post(link(bob)).status_code == 200
    assert (notify_email(alice), notify_email(bob)) == (True, False)


@pytest.mark.parametrize(
    "tamper",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),  # signature changed
        lambda token: ("1" if token[0] == "0" else "0") + token[1:],  # another user id
        lambda token: token.split(":")[0],  # no signature
        lambda token: "nonsense",
    ],
)
def test_a_tampered_link_is_refused_and_changes_nothing(bob: User, alice: User, tamper) -> None:
    path = reverse("unsubscribe", args=[tamper(unsubscribe_token(bob.pk))])
    for response in (
        Client().get(path),
        Client().post(
            path, "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
        ),
    ):
        assert response.status_code == 400
        assert "This link does not work" in response.content.decode()
    assert (notify_email(bob), notify_email(alice)) == (True, True)


def test_a_link_for_an_account_that_is_gone_is_refused(bob: User) -> None:
    path = link(bob)
    bob.delete()
    assert Client().post(path).status_code == 400


def test_a_token_signed_for_something_else_is_refused(bob: User) -> None:
    from django.core import signing

    forged = signing.Signer().sign(bob.pk.hex)  # the site's key, but not this purpose
    path = reverse("unsubscribe", args=[forged])
    assert Client().post(path).status_code == 400
    assert notify_email(bob) is True
