import pytest

pytestmark = pytest.mark.django_db


def test_signup_login_me(anon):
    r = anon.post(
        "/api/auth/signup", {"email": "Ann@Example.com", "password": "Zq7!long-pass", "name": "Ann"}
    )
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["user"]["email"] == "Ann@example.com"
    r = anon.post("/api/auth/login/", {"email": "ann@EXAMPLE.com", "password": "Zq7!long-pass"})
    assert r.status_code == 200, r.content
    access = r.json()["access"]
    r = anon.get("/api/auth/me", headers={"Authorization": f"Bearer {access}"})
    assert r.status_code == 200 and r.json()["name"] == "Ann"
    r = anon.get("/api/auth/me")
    assert r.status_code == 401 and r["WWW-Authenticate"].startswith("Bearer")
