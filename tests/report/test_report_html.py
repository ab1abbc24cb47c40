"""The report tests' own checks, tested: what a report page must not hold is refused."""

from __future__ import annotations


import pytest

from pages import check_page

PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJR"
       "U5ErkJggg==")  # a 1x1 PNG


@pytest.mark.parametrize("body", ["<p><b>x</p></b>", "<script>1</script>", '<img src="https://e.org/x.png">',
                                  '<a href="javascript:alert(1)">x</a>', '<link rel="stylesheet" href="s.css">'])
def test_check_page_refuses_what_a_report_must_not_hold(tmp_path, body):
    """Unbalanced tags, scripts, remote images, script links, stylesheets; a clean page passes."""
    page = tmp_path / "p.html"
    page.write_text(f'<!DOCTYPE html>\n<html><body><img src="{PNG}">{body}</body></html>')
    with pytest.raises(AssertionError):
        check_page(page)
    page.write_text(f'<!DOCTYPE html>\n<html><body><img src="{PNG}"><a href="#s">ok</a></body></html>')
    check_page(page)
