"""Bounding boxes as Playwright gives them ({x, y, width, height}, CSS px): the layout checks' tests."""


def inside(box: dict, width: int, height: int, slack: int = 0) -> bool:
    """The box lies within a width x height viewport (`slack` px of rounding allowed at the right)."""
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= width + slack
        and box["y"] + box["height"] <= height
    )


def overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )
