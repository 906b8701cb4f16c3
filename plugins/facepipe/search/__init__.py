"""Face search: the faces most like the face in a photo, over a day range."""
