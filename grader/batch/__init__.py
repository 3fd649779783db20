"""`grade batch`: a whole class, every core, resumable, with a gradebook and feedback per student."""
