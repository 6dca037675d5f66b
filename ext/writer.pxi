# placeholder, replaced by the writer fragment
