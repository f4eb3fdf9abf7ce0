"""Headless Chromium for the UI tests: the distribution's ``chromium`` + ``chromium-driver``, driven by Selenium.

Nothing is downloaded at test time: Selenium is pointed at ``/usr/bin/chromedriver`` and ``/usr/bin/chromium``
explicitly (its own driver manager would fetch one). When they are missing, the suite installs the Debian
packages with apt (as root); it skips, saying why, only when apt cannot.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PACKAGES = ("chromium", "chromium-driver")
# The flags: no GPU, no sandbox (root in CI), nothing that phones home or updates itself.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1600,1000",
)


def ensure_chromium() -> None:
    """Install ``chromium`` and ``chromium-driver`` with apt when missing; skip (with the reason) if apt cannot."""
    if CHROMIUM.is_file() and CHROMEDRIVER.is_file():
        return
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        pytest.skip(f"{CHROMIUM} / {CHROMEDRIVER} missing and apt-get unavailable or not root: install {PACKAGES}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "--no-install-recommends", *PACKAGES]
    done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:  # a stale package list: refresh it once
        subprocess.run([apt, "update"], env=env, capture_output=True, text=True, timeout=600)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
    if done.returncode != 0 or not CHROMEDRIVER.is_file():
        pytest.skip(f"apt-get could not install {PACKAGES}: {done.stderr.strip()[-300:]}")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium with a fresh profile (``--user-data-dir``), closed afterwards."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    ensure_chromium()
    profile = tempfile.mkdtemp(prefix="ms-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 60.0, every: float = 0.5) -> Any:
    """``probe()``'s first truthy value; fails naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except Exception as exc:  # noqa: BLE001 - a page still loading raises; retried until the deadline
            last = exc
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})")


def body_text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return str(driver.find_element(By.TAG_NAME, "body").text)


def wait_text(driver: Any, text: str, timeout: float = 60.0) -> str:
    """The page's text once it shows ``text``."""

    def shown() -> str | None:
        page = body_text(driver)
        return page if text in page else None

    return str(wait_for(f"{text!r} on {driver.current_url}", shown, timeout))


def click_text(driver: Any, text: str, timeout: float = 30.0) -> None:
    """Click the first visible element whose own text is ``text``."""
    from selenium.webdriver.common.by import By

    def visible() -> Any:
        for element in driver.find_elements(By.XPATH, f"//*[normalize-space(text())={_xpath_literal(text)}]"):
            if element.is_displayed():
                return element
        return None

    wait_for(f"a visible {text!r}", visible, timeout).click()


def _xpath_literal(text: str) -> str:
    return f"'{text}'" if "'" not in text else f'"{text}"'
