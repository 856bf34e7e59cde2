"""What simclock reads of other code's private state, kept in one place."""
