/* The web page (src/server/web/), linked into the binary so that `diffuse serve` needs no files
   beside it. Paths resolve through the target's include directories (src/); CMake lists the
   files as this object's dependencies, so an edited page is re-embedded. */
    .section .rodata
    .macro asset name, file
    .global diffuse_web_\name
    .global diffuse_web_\name\()_end
diffuse_web_\name:
    .incbin "\file"
diffuse_web_\name\()_end:
    .endm

    /* One line per file; web_assets.cpp lists the same names with the paths they are served at. */
    asset index_html, "server/web/index.html"
    asset style_css, "server/web/style.css"
    asset app_js, "server/web/app.js"
    asset api_js, "server/web/api.js"
    asset form_js, "server/web/form.js"
    asset gallery_js, "server/web/gallery.js"
    asset generate_js, "server/web/generate.js"
    asset img2img_js, "server/web/img2img.js"
    asset progress_js, "server/web/progress.js"
    asset stage_js, "server/web/stage.js"
    asset state_js, "server/web/state.js"
    asset status_js, "server/web/status.js"
    asset util_js, "server/web/util.js"

    /* No executable stack. */
    .section .note.GNU-stack, "", @progbits
