# placeholder, replaced by the headers fragment
