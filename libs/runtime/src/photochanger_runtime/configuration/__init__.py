"""What admins configure and every job is made from: the 15 slots, the platform settings
document, template images, and the optimistic versioning of their edits."""
