<?php
// TEST STAND-IN for the official adminer image's index.php, for the offline node image only
// (README.md): Debian's Adminer 4.8.1, served by `php -S` on port 8080 as the official image does. As
// there, the login form's server field starts with ADMINER_DEFAULT_SERVER (default "db"); the official
// image's other variables (ADMINER_DESIGN, ADMINER_PLUGINS) are not read.
function adminer_object() {
    class StandinAdminer extends Adminer {
        function loginFormField($name, $heading, $value) {
            if ($name == "server") {
                $server = getenv("ADMINER_DEFAULT_SERVER") ?: "db";
                $value = str_replace('value=""', 'value="' . h($server) . '"', $value);
            }
            return parent::loginFormField($name, $heading, $value);
        }
    }
    return new StandinAdminer();
}

include "/usr/share/adminer/adminer.php";
