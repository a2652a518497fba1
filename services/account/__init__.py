"""The personal account: families and students sign in and see their school life."""
