"""Static files of the partner widget: loader script, iframe page, its script and styles, demo page."""
