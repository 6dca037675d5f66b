# placeholder, replaced by the errors fragment
