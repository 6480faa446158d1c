"""youthdesk: the messaging gateway for the 12355 youth service desks."""
