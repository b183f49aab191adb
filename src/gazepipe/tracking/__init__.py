"""The eye tracker: face, eyes, pupils, eye state and head pose from one greyscale frame."""
